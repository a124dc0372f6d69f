import type { Command } from 'commander';

// Placeholder until `score` (batch scoring) lands (issue 5).
export function register(_program: Command): void {}
