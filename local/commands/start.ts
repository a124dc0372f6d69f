import type { Command } from 'commander';

// Placeholder until the 'start' commands land; it registers nothing.
export function register(_program: Command): void {}
