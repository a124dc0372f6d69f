import type { Command } from 'commander';

// Placeholder until the 'models' commands land; it registers nothing.
export function register(_program: Command): void {}
