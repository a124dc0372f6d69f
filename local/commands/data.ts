import type { Command } from 'commander';

// Placeholder until the 'data' commands land; it registers nothing.
export function register(_program: Command): void {}
