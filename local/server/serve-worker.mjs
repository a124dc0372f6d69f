// Entry of a `credit-risk serve --workers N` worker when the CLI runs from the sources: TypeScript
// through tsx, then the same entry the compiled CLI forks (serve-worker-main.ts).
import { register } from 'tsx/esm/api';

register();
await import('./serve-worker-main.ts');
