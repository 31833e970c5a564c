/**
 * The library of named panel profiles (`options.model` of `panel-profile`):
 * one TypeScript data module per panel model in ./library/, each citing the
 * document its frames follow, registered in ./library/index.ts.
 *
 * Data modules rather than JSON/YAML files: `tsc` compiles them into dist/
 * with the rest (the build copies no data files) and the editor checks their
 * shape; their frames are still only data, checked here with the same schema
 * as a hand-written profile (profileFramesSchema).
 *
 * The library is validated once, on first use (the first config that names
 * a model, i.e. at start / check-config; the unit tests validate every entry
 * at build). A bad entry is an Error naming its file and field, e.g.
 * `drivers/profile/library/x.ts: options.commands.powerOn: not a hex frame: "7F 0"`.
 * (Not at import: ./schema.ts imports this module and this module imports
 * ./schema.ts, so neither may use the other at the top level.)
 */
import { z } from 'zod';
import { PANEL_MODEL_SOURCES } from './library/index.js';
import { profileFramesSchema, type ProfileInput, type ProfileOptions } from './schema.js';

/** Where a model's frames come from. */
export interface PanelModelSource {
  /** Title of the document followed (the vendor's manual, or the page of shared/PROTOCOLS.md). */
  document: string;
  /** The models the document covers, as it names them. */
  models: string;
  /** Page or section in that document; null when the document has no pages to cite (say why in `notes`). */
  page: string | null;
  /** Whether the frames were checked against the vendor's own manual (false: [unverified]). */
  verified: boolean;
  notes?: string;
}

/** One entry of the library, as written in ./library/<name>.ts. */
export interface PanelModelEntry {
  /** The name used in config: lower-case letters, digits and "-" (and the file's name). */
  name: string;
  /** Human-readable name of the panel range. */
  title: string;
  source: PanelModelSource;
  /** The panel's serial line speed (for the transport; the profile cannot set it). */
  baudRate?: number;
  /** The profile, as a technician would write it under `options`. */
  options: ProfileInput;
}

/** A validated entry: options with their defaults filled in. */
export interface PanelModel extends Omit<PanelModelEntry, 'options'> {
  file: string;
  /** The entry's options as written (what ./schema.ts merges a config's overrides into). */
  raw: ProfileInput;
  /** The same, validated. */
  options: ProfileOptions;
}

export const PANEL_MODEL_NAME = /^[a-z0-9][a-z0-9-]{0,47}$/;

const entrySchema = z
  .object({
    name: z.string().regex(PANEL_MODEL_NAME, 'lower-case letters, digits and "-", up to 48'),
    title: z.string().min(1),
    source: z
      .object({
        document: z.string().min(1, 'cite the document the frames follow'),
        models: z.string().min(1, 'name the models the document covers'),
        page: z.string().min(1).nullable(),
        verified: z.boolean(),
        notes: z.string().min(1).optional(),
      })
      .strict()
      .refine((s) => s.page !== null || s.notes !== undefined, { message: 'without a page, say why in notes', path: ['page'] }),
    baudRate: z.number().int().positive().optional(),
    // lazy: ./schema.ts may not be evaluated yet when this module is (import cycle, see the header)
    options: z.lazy(() => profileFramesSchema),
  })
  .strict();

/** A library source file: its path (for messages) and what it exports. */
export interface PanelModelSourceFile {
  file: string;
  entry: unknown;
}

/**
 * Validate library entries; throws one Error listing every problem as
 * `<file>: <field>: <message>`. Names must be unique and match the file name.
 */
export function loadPanelModels(files: readonly PanelModelSourceFile[]): ReadonlyMap<string, PanelModel> {
  const problems: string[] = [];
  const models = new Map<string, PanelModel>();
  for (const { file, entry } of files) {
    const r = entrySchema.safeParse(entry);
    if (!r.success) {
      for (const i of r.error.issues) problems.push(`${file}: ${i.path.join('.') || '(entry)'}: ${i.message}`);
      continue;
    }
    const { options, ...meta } = r.data;
    const base = file.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');
    if (meta.name !== base) problems.push(`${file}: name: "${meta.name}" differs from the file's name "${base}"`);
    else if (models.has(meta.name)) problems.push(`${file}: name: "${meta.name}" is already defined by ${models.get(meta.name)!.file}`);
    else models.set(meta.name, { ...meta, file, raw: structuredClone((entry as PanelModelEntry).options), options });
  }
  if (problems.length > 0) throw new Error(`panel model library: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  return models;
}

let library: ReadonlyMap<string, PanelModel> | undefined;

/** The library of ./library/, validated on first use (throws on a bad entry). */
export function panelModels(): ReadonlyMap<string, PanelModel> {
  library ??= loadPanelModels(PANEL_MODEL_SOURCES);
  return library;
}

/** Names of the library's models, sorted. */
export function panelModelNames(): string[] {
  return [...panelModels().keys()].sort();
}

/** A copy of the named model's options as written (before defaults), or undefined for an unknown name. */
export function panelModelOptions(name: string): ProfileInput | undefined {
  const m = panelModels().get(name);
  return m && structuredClone(m.raw);
}
