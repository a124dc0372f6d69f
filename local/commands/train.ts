import type { Command } from 'commander';

// Placeholder until the 'train' commands land; it registers nothing.
export function register(_program: Command): void {}
