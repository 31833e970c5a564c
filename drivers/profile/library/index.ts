/**
 * The library's files, one module per panel model, each exporting `entry`
 * (a PanelModelEntry, see ../library.ts) and named after the model.
 *
 * To add a model: copy a module, cite the manual it follows (title, model
 * range, page), write only frames that manual gives, and list it here.
 * test/unit/drivers/profile-library.test.ts checks that every module of this
 * folder is listed, and validates every entry.
 */
import type { PanelModelSourceFile } from '../library.js';
import { entry as hitevisionIfp } from './hitevision-ifp.js';

const DIR = 'drivers/profile/library';

export const PANEL_MODEL_SOURCES: readonly PanelModelSourceFile[] = [{ file: `${DIR}/hitevision-ifp.ts`, entry: hitevisionIfp }];
