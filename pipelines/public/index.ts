// The public outputs' emitters, in the order the build runs them (after the lists);
// metrics last, so it can report the generation's size.
import type { Emitter } from '../core/generation.ts';
import { mirrorsJsonEmitter, publicListEmitter, publicNginxEmitter, mapEmitter, metricsEmitter, siteIndexEmitter, statusEmitter } from './emitters.ts';
import { rsyncAclEmitter } from './rsync-acl.ts';

export const PUBLIC_EMITTERS: Emitter[] = [publicListEmitter, mirrorsJsonEmitter, rsyncAclEmitter(), statusEmitter, mapEmitter, siteIndexEmitter, publicNginxEmitter, metricsEmitter];
