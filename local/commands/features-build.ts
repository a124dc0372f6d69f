import type { Command } from 'commander';

// Placeholder until `features build` lands (issue 3).
export function registerBuild(_features: Command): void {}
