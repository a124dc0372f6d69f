import type { Command } from 'commander';
import { registerBuild } from './features-build.ts';
import { registerStore } from './features-store.ts';

export function register(program: Command): void {
  const features = program
    .command('features')
    .description(
      'build point-in-time features from raw loans, publish them to the offline and online stores, read them back',
    );
  registerBuild(features);
  registerStore(features);
}
