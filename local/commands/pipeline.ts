import type { Command } from 'commander';

// Placeholder until the 'pipeline' commands land; it registers nothing.
export function register(_program: Command): void {}
