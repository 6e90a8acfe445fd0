/** The tables the PostgreSQL examples query (`app_users`, `app_companies`), seeded with a few rows. */
import type { Sql } from "postgres";

/** Create and fill the examples' tables (dropping any left from before). */
export async function seedAppTables(sql: Sql): Promise<void> {
  await sql.unsafe(`
    drop table if exists app_users;
    drop table if exists app_companies;
    create table app_companies (id int primary key, name text, plan text);
    create table app_users (
      id bigint primary key, company_id int, email text, plan text, seats int, mrr numeric,
      last_seen_at timestamptz, deleted_at timestamptz
    );
    insert into app_companies values (1, 'Acme', 'pro'), (2, 'Globex', 'team'), (3, 'Initech', null);
    insert into app_users values
      (10, 1, 'a@acme.test', 'pro', 3, 100, '2026-01-02 03:04:05+00', null),
      (11, 1, 'b@acme.test', 'pro', 3, 50, '2026-01-03 00:00:00+00', null),
      (12, 2, 'c@globex.test', 'team', 1, 20.5, null, null),
      (13, 2, 'gone@globex.test', 'team', 1, null, null, '2026-01-01');
  `).simple();
}
