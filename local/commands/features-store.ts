import type { Command } from 'commander';

// Placeholder until `features publish` and `features get` land (issue 3).
export function registerStore(_features: Command): void {}
