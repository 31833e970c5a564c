/**
 * The fleet page of the reference cloud (docs/sync.md, "Fleet page"):
 * server-rendered HTML on the technician API's server, no scripts at all
 * (CSP `default-src 'none'`, the one style by hash, forms only to this
 * origin). It lists the technician's rooms (online/offline, sync, device
 * health, lessons by receipt state, open alerts and help requests) and the
 * open alerts, each with a button that acknowledges it (sync/cloud/alerts.ts),
 * a link per room to its recordings (录像, sync/cloud/recordings-page.ts) when
 * the cloud registers recordings,
 * and has a command form that issues through the same CloudCommands as the
 * API, so scope, role and audit are the same.
 *
 * A browser cannot add a Bearer header to a form, so the page (only the page)
 * also takes Basic credentials: user = technician name, password = token
 * secret; the API's onRequest hook asks for them (sync/cloud/api.ts). Forms
 * carry a CSRF token (HMAC of the technician name with a per-process key), so
 * another site cannot submit a command with the browser's cached credentials.
 *
 * Text in zh-CN by default, English with `?lang=en`.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CloudCommands, CommandRecord } from './commands.js';
import { acknowledgeAlertInScope, alertIdSchema, roomSummary } from './api.js';
import { linkIdSchema } from '../protocol.js';
import type { CloudStore } from './store.js';
import { roleMay, TECHNICIAN_COMMANDS, type Technicians } from './technicians.js';

const TEXT = {
  'zh-CN': {
    title: '教室设备总览',
    room: '教室',
    school: '学校',
    status: '状态',
    online: '在线',
    offline: '离线',
    lastBatch: '最近同步',
    ackedSeq: '已确认序号',
    devices: '设备（在线/总数）',
    errors: '故障设备',
    never: '从未',
    secondsAgo: (s: number) => `${s} 秒前`,
    sendCommand: '发送远程指令',
    command: '指令',
    args: '参数（JSON）',
    send: '发送',
    result: '指令结果',
    back: '返回总览',
    noRooms: '没有可管理的教室',
    badArgs: '参数不是 JSON 对象',
    badForm: '表单无效或已过期，请刷新页面',
    lessons: '课次同步（完整/不完整/待确认）',
    alerts: '未处理告警（报修）',
    recentAlerts: '未处理告警',
    noAlerts: '没有未处理的告警',
    helpRequest: '报修',
    acknowledge: '确认已处理',
    recordings: '录像',
  },
  en: {
    title: 'Classroom fleet',
    room: 'Room',
    school: 'School',
    status: 'Status',
    online: 'online',
    offline: 'offline',
    lastBatch: 'Last sync',
    ackedSeq: 'Acked seq',
    devices: 'Devices (online/total)',
    errors: 'Devices with errors',
    never: 'never',
    secondsAgo: (s: number) => `${s} s ago`,
    sendCommand: 'Send a remote command',
    command: 'Command',
    args: 'Arguments (JSON)',
    send: 'Send',
    result: 'Command result',
    back: 'Back to the fleet',
    noRooms: 'No rooms in your scope',
    badArgs: 'the arguments are not a JSON object',
    badForm: 'invalid or stale form, reload the page',
    lessons: 'Lessons synced (complete/incomplete/pending)',
    alerts: 'Open alerts (help requests)',
    recentAlerts: 'Open alerts',
    noAlerts: 'No open alerts',
    helpRequest: 'help request',
    acknowledge: 'Acknowledge',
    recordings: 'Recordings',
  },
} as const;
type Lang = keyof typeof TEXT;

const STYLE =
  'body{font-family:"Noto Sans CJK SC","Noto Sans SC",sans-serif;margin:24px;color:#1f2933}' +
  'table{border-collapse:collapse}td,th{border:1px solid #cbd2d9;padding:4px 10px;text-align:left}' +
  '.on{color:#1e7e34}.off{color:#b00020}form.inline{display:inline}pre{background:#f4f6f8;padding:12px;max-width:100ch;overflow:auto}';
const STYLE_HASH = createHash('sha256').update(STYLE, 'utf8').digest('base64');
export const FLEET_CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

export const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(lang: Lang, title: string, body: string): string {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

const ackFormSchema = z.object({ room: linkIdSchema, alert: alertIdSchema, csrf: z.string(), lang: z.string().optional() });
const formSchema = z.object({ room: z.string(), command: z.string(), args: z.string().max(16_000).default('{}'), csrf: z.string(), lang: z.string().optional() });

export function registerFleet(app: FastifyInstance, deps: { store: CloudStore; commands: CloudCommands; technicians: Technicians; now?: () => number; waitMs?: number }): void {
  const now = deps.now ?? Date.now;
  const key = randomBytes(32);
  const csrfFor = (name: string) => createHmac('sha256', key).update(name).digest('base64url');
  const langOf = (q: unknown): Lang => ((q as { lang?: string } | undefined)?.lang === 'en' ? 'en' : 'zh-CN');
  const html = (reply: { header: (k: string, v: string) => unknown; type: (t: string) => unknown }) => {
    reply.header('content-security-policy', FLEET_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.type('text/html; charset=utf-8');
  };

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 32 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  app.get('/fleet', async (req, reply) => {
    const tech = req.technician!;
    const lang = langOf(req.query);
    const t = TEXT[lang];
    const rooms = await Promise.all(
      (await deps.commands.knownRooms()).filter((r) => deps.technicians.inScope(tech, r)).map((r) => roomSummary(deps.store, deps.technicians, r, now())),
    );
    // The 录像 column when the recordings routes are registered (sync/cloud/recordings-routes.ts).
    const withRecordings = app.hasRoute({ method: 'GET', url: '/fleet/rooms/:room/recordings' });
    const rows = rooms
      .map(
        (r) =>
          `<tr><td>${esc(r.roomId)}</td><td>${esc(r.school ?? '')}</td>` +
          `<td class="${r.online ? 'on' : 'off'}">${r.online ? t.online : t.offline}</td>` +
          `<td>${r.sync.sinceLastBatchMs === null ? t.never : t.secondsAgo(Math.round(r.sync.sinceLastBatchMs / 1000))}</td>` +
          `<td>${r.sync.ackedSeq}</td><td>${r.devices.online}/${r.devices.total}</td><td>${r.devices.withError}</td>` +
          `<td${r.lessons.incomplete ? ' class="off"' : ''}>${r.lessons.complete}/${r.lessons.incomplete}/${r.lessons.pending}</td>` +
          `<td${r.alerts.helpRequests ? ' class="off"' : ''}>${r.alerts.count} (${r.alerts.helpRequests})</td>` +
          (withRecordings ? `<td><a href="/fleet/rooms/${encodeURIComponent(r.roomId)}/recordings?lang=${lang}">${t.recordings}</a></td>` : '') +
          `</tr>`,
      )
      .join('');
    const commands = [...new Set([...TECHNICIAN_COMMANDS, 'service.restart'])].filter((c) => roleMay(tech.role, c));
    const table = rooms.length
      ? `<table><thead><tr><th>${t.room}</th><th>${t.school}</th><th>${t.status}</th><th>${t.lastBatch}</th><th>${t.ackedSeq}</th><th>${t.devices}</th><th>${t.errors}</th><th>${t.lessons}</th><th>${t.alerts}</th>${withRecordings ? `<th>${t.recordings}</th>` : ''}</tr></thead><tbody>${rows}</tbody></table>`
      : `<p>${t.noRooms}</p>`;
    const csrf = esc(csrfFor(tech.name));
    const alertItems = rooms.flatMap((r) =>
      r.alerts.open.map(
        (a) =>
          `<li><b>${esc(r.roomId)}</b> ${esc(new Date(a.ts).toISOString().slice(0, 16).replace('T', ' '))} ` +
          `<span class="${a.severity === 'info' ? 'on' : 'off'}">${esc(a.code === 'help-request' ? t.helpRequest : a.code)}</span> ${esc(a.message)}` +
          (a.id === null
            ? ''
            : ` <form method="post" action="/fleet/alerts/ack" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="lang" value="${lang}">` +
              `<input type="hidden" name="room" value="${esc(r.roomId)}"><input type="hidden" name="alert" value="${esc(a.id)}"><button type="submit">${t.acknowledge}</button></form>`) +
          `</li>`,
      ),
    );
    const alertList = `<h2>${t.recentAlerts}</h2>${alertItems.length ? `<ul>${alertItems.join('')}</ul>` : `<p>${t.noAlerts}</p>`}`;
    const form =
      `<h2>${t.sendCommand}</h2><form method="post" action="/fleet/commands">` +
      `<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="lang" value="${lang}">` +
      `<label>${t.room} <select name="room">${rooms.map((r) => `<option>${esc(r.roomId)}</option>`).join('')}</select></label> ` +
      `<label>${t.command} <select name="command">${commands.map((c) => `<option>${esc(c)}</option>`).join('')}</select></label><br>` +
      `<label>${t.args}<br><textarea name="args" rows="4" cols="60">{}</textarea></label><br><button type="submit">${t.send}</button></form>`;
    html(reply);
    return page(lang, t.title, `<h1>${t.title}</h1>${table}${alertList}${form}`);
  });

  /**
   * A posted form: parsed, its CSRF token checked against the technician's. Null after answering
   * 403 (invalid or stale form); otherwise the form, its language and texts.
   */
  const postedForm = <S extends z.ZodType<{ csrf: string; lang?: string | undefined }>>(schema: S, req: FastifyRequest, reply: FastifyReply) => {
    const form = schema.safeParse(req.body ?? {});
    const lang: Lang = form.success && form.data.lang === 'en' ? 'en' : 'zh-CN';
    const t = TEXT[lang];
    const expected = Buffer.from(csrfFor(req.technician!.name));
    const given = Buffer.from(form.success ? form.data.csrf : '');
    html(reply);
    if (!form.success || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      void reply.code(403).send(page(lang, t.result, `<p>${t.badForm}</p><p><a href="/fleet?lang=${lang}">${t.back}</a></p>`));
      return null;
    }
    return { data: form.data as z.infer<S>, lang, t };
  };

  app.post('/fleet/commands', async (req, reply) => {
    const tech = req.technician!;
    const posted = postedForm(formSchema, req, reply);
    if (!posted) return reply;
    const { data: form, lang, t } = posted;
    let args: unknown;
    try {
      args = JSON.parse(form.args || '{}');
    } catch {
      args = null;
    }
    if (!args || typeof args !== 'object' || Array.isArray(args)) {
      return reply.code(400).send(page(lang, t.result, `<p>${t.badArgs}</p><p><a href="/fleet?lang=${lang}">${t.back}</a></p>`));
    }
    const out = await deps.commands.issue(tech, form.room, form.command, args as Record<string, unknown>);
    let shown: CommandRecord | { error: { code: string; message: string } };
    if (out.ok) shown = (await deps.commands.wait(out.command.id, deps.waitMs ?? 10_000)) ?? out.command;
    else {
      reply.code(out.status);
      shown = { error: { code: out.status === 403 ? 'forbidden' : 'not-found', message: out.reason } };
    }
    return page(lang, t.result, `<h1>${t.result}</h1><pre>${esc(JSON.stringify(shown, null, 2))}</pre><p><a href="/fleet?lang=${lang}">${t.back}</a></p>`);
  });

  app.post('/fleet/alerts/ack', async (req, reply) => {
    const posted = postedForm(ackFormSchema, req, reply);
    if (!posted) return reply;
    const { data: form, lang, t } = posted;
    const out = await acknowledgeAlertInScope(deps, req.technician!, form.room, form.alert, now());
    // Done (or done before): back to the page, where the alert is gone. Refused: say why.
    if (out.ok) return reply.code(303).header('location', `/fleet?lang=${lang}`).send('');
    reply.code(out.status);
    return page(lang, t.result, `<h1>${t.result}</h1><pre>${esc(out.reason)}</pre><p><a href="/fleet?lang=${lang}">${t.back}</a></p>`);
  });
}
