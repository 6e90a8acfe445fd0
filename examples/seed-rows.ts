/** The users of `seed-bulk-identify.txt`: the JSON body of its first `curl --data '…'`. */
export function seedUsers(curlText: string): unknown[] {
  const match = /--data '([\s\S]*?)'/.exec(curlText);
  if (match === null) throw new Error("no --data '…' body found in the seed file");
  const body = JSON.parse(match[1] as string) as { users: unknown[] };
  return body.users;
}
