// What the `build` stage writes into a generation, in order. Each feature adds its
// emitter here (lists and nginx maps, public pages, rsync ACL, report upload…).
import type { Emitter } from '../core/generation.ts';
import { listsEmitter } from './lists-emitter.ts';
import { PUBLIC_EMITTERS } from '../public/index.ts';
import { metricsEmitter } from '../public/emitters.ts';
import { reportsEmitter } from '../report/emitter.ts';
import { changesEmitter } from '../admin/changes.ts';
import { guideEmitter } from '../admin/guide.ts';

// Metrics last: its generation size and file count cover every emitter before it.
export const EMITTERS: Emitter[] = [listsEmitter, ...PUBLIC_EMITTERS.filter((e) => e !== metricsEmitter), reportsEmitter, changesEmitter, guideEmitter, metricsEmitter];
