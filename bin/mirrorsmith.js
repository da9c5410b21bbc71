#!/usr/bin/env node
// Thin launcher: the CLI is TypeScript run through tsx, so `npx mirrorsmith` works
// straight after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../pipelines/cli.ts');
