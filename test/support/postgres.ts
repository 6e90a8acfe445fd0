/**
 * A real PostgreSQL server for tests: Debian's PostgreSQL 15, in a temporary data directory, on a
 * free loopback port, with password authentication over TCP. CI starts from a clean clone that
 * reaches only the npm registry and Debian's packages, so the server package is installed here
 * when it is missing (as root, as CI runs), as the browser tests do with Chromium.
 */
import { execFileSync, type ExecFileSyncOptions } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { aptGetInstall } from "./apt.ts";

/** The password of the role the tests connect as: it must never show up in any output. */
export const POSTGRES_PASSWORD = "pg-test-secret-Vq93x-must-never-be-printed";
const ROLE = "userpilot_sync";
const DATABASE = "app";

/** The directory of `initdb` and `pg_ctl`, installing Debian's server when it is missing. */
export function postgresBinaries(): string {
  const find = (): string | undefined => {
    try {
      const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
      if (existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
    } catch {
      // no pg_config
    }
    for (const version of ["17", "16", "15"]) {
      const dir = `/usr/lib/postgresql/${version}/bin`;
      if (existsSync(join(dir, "initdb"))) return dir;
    }
    return undefined;
  };
  const found = find();
  if (found !== undefined) return found;
  aptGetInstall("postgresql");
  const installed = find();
  if (installed === undefined) {
    throw new Error("apt-get installed postgresql, yet initdb is nowhere to be found");
  }
  return installed;
}

/** A free TCP port on 127.0.0.1 (asked of the system, then let go). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A running server: the URL tests connect with (password included), and how to stop it. */
export interface PostgresServer {
  readonly url: string;
  /** The superuser's URL, for seeding and for ending other sessions. */
  readonly adminUrl: string;
  stop(): void;
}

/**
 * Start a throwaway server: `initdb` in a temporary directory (as the `postgres` user when run as
 * root: the server refuses root), `pg_ctl start` on a free loopback port with durability off (a
 * test server), a role with a password and a database. Stops with `pg_ctl stop -m immediate`.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinaries();
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "userpilot-pg-"));
  const owner = root ? "postgres" : userInfo().username;
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    chownSync(dir, uid, gid);
  }
  const run = (command: string, args: string[], options: ExecFileSyncOptions = {}): void => {
    const [file, argv] = root ? ["runuser", ["-u", "postgres", "--", join(bin, command), ...args]] : [
      join(bin, command),
      args,
    ];
    try {
      execFileSync(file as string, argv as string[], {
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 120_000,
        ...options,
      });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? "");
      throw new Error(`${command} failed: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    }
  };
  const superPassword = "pg-superuser-test-password";
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, `${superPassword}\n`, { mode: 0o600 });
  if (root) execFileSync("chown", ["postgres", pwfile]);
  const data = join(dir, "data");
  run("initdb", [
    "-D",
    data,
    "-U",
    owner,
    "--pwfile",
    pwfile,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
  ]);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
  ].join(" ");
  run("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  const stop = (): void => {
    try {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const adminUrl = `postgres://${owner}:${superPassword}@127.0.0.1:${port}/postgres`;
  try {
    const { default: postgres } = await import("postgres");
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await sql.unsafe(`create role ${ROLE} login password '${POSTGRES_PASSWORD}'`);
    await sql.unsafe(`create database ${DATABASE} owner ${ROLE}`);
    await sql.end();
  } catch (error) {
    stop();
    throw error;
  }
  return {
    url: `postgres://${ROLE}:${POSTGRES_PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    adminUrl: adminUrl.replace(/\/postgres$/, `/${DATABASE}`),
    stop,
  };
}
