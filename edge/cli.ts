#!/usr/bin/env node
/**
 * The `classroom-edge` command line (shared/DESIGN.md section 5).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, loadConfigText } from './config/load.js';
import { defaultDemoDataDir, demoConfigYaml, demoUploadTokenFile, ensureSecretFile } from './config/demo.js';
import { builtinDrivers } from './devices/registry.js';
import { startService } from './service.js';
import { collectAfterStartup } from './util/startup-gc.js';
import { createLogger } from './util/logger.js';
import { LogRing } from './util/log-ring.js';
import { systemClock } from './util/clock.js';
import { packageInfo } from './util/package-info.js';
import { hashPassword } from './security/passwords.js';

const USAGE = `classroom-edge — smart-classroom edge appliance

Usage:
  classroom-edge start [--config FILE] [--data-dir DIR]
      Run the service. With no config (and no CLASSROOM_EDGE_CONFIG), runs the
      simulated demo room in its own data directory (default ${defaultDemoDataDir()}).
  classroom-edge check-config FILE
      Validate a config file; prints every problem as "path: reason".
  classroom-edge config-reset --config FILE
      Stop using the configuration pushed from the district: the file's devices
      and scenes are in force again at the next start (docs/config-push.md).
  classroom-edge ports [--json]
      List the serial ports (with their stable /dev/serial/by-id names and USB
      ids) and GPIO chips (labels, line counts) a device config can use.
  classroom-edge import timetable|roster FILE... [--config FILE] [--data-dir DIR]
      Import a timetable (.csv weekly grid, .ics, or a full .yaml/.json
      document) or a roster (.csv students/teachers/leaves/classes, .yaml/.json)
      into the store of the config's dataDir (no config: the demo room).
      Prints a summary, or every problem by file and line and exits 1; the
      version in force stays until an import is valid (docs/timetable.md).
  classroom-edge hash-password
      Read a password on standard input, print its scrypt hash for config
      (broker.users[].passwordHash).
  classroom-edge cloud start --config FILE
      Run the reference district cloud: ingest workers, technicians' commands
      and, with api: in its config, the technician HTTP API (docs/sync.md).
  classroom-edge cloud start --demo [--port 8090]
      The reference cloud beside the demo room, nothing to configure: its fleet
      page plays the demo room's uploaded recordings (docs/recording.md).
  classroom-edge cloud push-config --config FILE --room ROOM --file CONFIG.yaml [--wait [--timeout S]]
      Push devices, scenes and live targets (or a whole edge config) to a room as its next
      config version; with --wait, print the room's result (docs/config-push.md).
  classroom-edge cameras [--timeout S] [--credentials-file FILE] [--json] [--interface ADDR]
      Find the LAN's ONVIF cameras and print their profiles' RTSP URLs, with
      recording.sources lines to paste (docs/recording.md).
  classroom-edge kiosk [--url URL]
      Show the teacher's kiosk full screen: Electron if installed, else Chromium
      (default URL $CLASSROOM_EDGE_KIOSK_URL or http://127.0.0.1:8080/kiosk/; docs/kiosk.md).
  classroom-edge --version | --help
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function cmdCheckConfig(file: string | undefined): Promise<number> {
  if (!file) {
    process.stderr.write('check-config needs a FILE\n');
    return 2;
  }
  try {
    const config = loadConfigFile(file, builtinDrivers());
    process.stdout.write(`${file}: OK (room ${config.room.id}, ${config.devices.length} devices, ${Object.keys(config.scenes).length} scenes)\n`);
    const pushed = (await import('./config/overlay-cli.js')).describeStoredConfig(config.dataDir);
    if (pushed) process.stdout.write(`note: ${pushed}\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`${p.path}: ${p.reason}\n`);
      process.stderr.write(`${file}: ${e.problems.length} problem(s)\n`);
      return 1;
    }
    throw e;
  }
}

/** The demo room's upload token, shared with `cloud start --demo` (made by whichever starts first). */
function demoUploadToken(): string {
  const file = demoUploadTokenFile();
  ensureSecretFile(file);
  return file;
}

async function cmdStart(opts: { config?: string; 'data-dir'?: string }): Promise<number> {
  const registry = builtinDrivers();
  const configFile = opts.config ?? process.env.CLASSROOM_EDGE_CONFIG;
  let config;
  try {
    config = configFile
      ? loadConfigFile(configFile, registry)
      : loadConfigText(demoConfigYaml(opts['data-dir'] ?? defaultDemoDataDir(), { recording: { uploadTokenFile: demoUploadToken() } }), '(embedded demo config)', registry);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`refusing to start: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const logRing = new LogRing();
  const logger = createLogger({ level: config.log.level, ring: logRing });
  if (!configFile) logger.info({ dataDir: config.dataDir }, 'no config given: running the simulated demo room');
  // A remote `service.restart` stops the service like SIGTERM and exits with RESTART_EXIT_CODE;
  // systemd's Restart=always (docs/classroom-edge.service) starts it again.
  let restartRequested: ((reason: string) => void) | undefined;
  let restarting = false;
  const service = await startService({
    config,
    registry,
    logger,
    clock: systemClock,
    demo: !configFile,
    logRing,
    restart: (reason) => restartRequested?.(reason),
  });
  const cancelStartupGc = collectAfterStartup(logger);

  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      logger.info({ signal: sig }, 'signal received, shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    restartRequested = (reason) => {
      logger.warn({ reason }, 'restart requested: stopping; systemd starts the service again');
      restarting = true;
      onSignal('restart');
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  cancelStartupGc();
  await service.stop();
  return restarting ? RESTART_EXIT_CODE : 0;
}

/** Exit code after a remote restart (EX_TEMPFAIL): systemd restarts on it with Restart=always or on-failure. */
const RESTART_EXIT_CODE = 75;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'cameras') {
    // Parses its own options (--credentials-file, --interface, --probe-address).
    const { runCamerasCommand } = await import('./recording/cameras-cli.js');
    return runCamerasCommand(argv.slice(1), { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) });
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      room: { type: 'string' },
      file: { type: 'string' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      'issued-by': { type: 'string' },
      demo: { type: 'boolean' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) {
    process.stdout.write(`${packageInfo().version}\n`);
    return 0;
  }
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  switch (cmd) {
    case 'start':
      return cmdStart(values);
    case 'check-config':
      return cmdCheckConfig(rest[0]);
    case 'config-reset': {
      const file = values.config ?? process.env.CLASSROOM_EDGE_CONFIG;
      if (!file) {
        process.stderr.write('config-reset needs --config FILE\n');
        return 2;
      }
      let config;
      try {
        config = loadConfigFile(file, builtinDrivers());
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`${e.message}\n`);
          return 1;
        }
        throw e;
      }
      return (await import('./config/overlay-cli.js')).runConfigReset({
        config,
        clock: systemClock,
        logger: createLogger({ level: 'warn', destination: process.stderr }),
        out: (line) => process.stdout.write(`${line}\n`),
      });
    }
    case 'ports':
      // Loaded on demand: the running service does not need the commands' modules in memory.
      return (await import('./ports.js')).cmdPorts({ json: values.json });
    case 'import':
      return (await import('./import.js')).runImport({
        kind: rest[0],
        files: rest.slice(1),
        configFile: values.config ?? process.env.CLASSROOM_EDGE_CONFIG,
        dataDir: values['data-dir'],
        registry: builtinDrivers(),
        clock: systemClock,
        logger: createLogger({ level: 'warn', destination: process.stderr }),
        out: (line) => process.stdout.write(`${line}\n`),
        err: (line) => process.stderr.write(`${line}\n`),
      });
    case 'cloud':
      return (await import('../sync/cloud/cli.js')).runCloudCommand({
        sub: rest[0],
        configFile: values.config,
        logger: (level) => createLogger({ level }),
        push: { room: values.room, file: values.file, wait: values.wait, timeout: values.timeout, issuedBy: values['issued-by'] },
        demo: values.demo,
        port: values.port,
      });
    case 'kiosk':
      return (await import('../kiosk/main/launch.js')).cmdKiosk({ url: values.url, version: packageInfo().version });
    case 'hash-password': {
      const pw = (await readStdin()).replace(/\r?\n$/, '');
      if (pw.length < 12) {
        process.stderr.write('refusing: a password needs at least 12 characters\n');
        return 1;
      }
      process.stdout.write(`${await hashPassword(pw)}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`classroom-edge: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
