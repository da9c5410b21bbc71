// What the `build` stage writes into a generation, in order. Each feature adds its
// emitter here (lists and nginx maps, public pages, rsync ACL, report upload…).
import type { Emitter } from '../core/generation.ts';
import { PUBLIC_EMITTERS } from '../public/index.ts';
import { reportsEmitter } from '../report/emitter.ts';

export const EMITTERS: Emitter[] = [...PUBLIC_EMITTERS, reportsEmitter];
