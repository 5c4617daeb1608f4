/**
 * Which prebuilt addon fits this Node and this system. Internal.
 *
 * A prebuild directory is `prebuilds/<platform>-<arch>/` (as prebuildify lays it out);
 * the addon in it is named `pvm.<tag>.<tag>….node`, each tag a requirement:
 * `napi-v<N>` (Node-API version N or later), `glibc-<X.Y>` (glibc X.Y or later),
 * `musl` (a musl libc). The first addon whose tags all hold is the one to load.
 * @internal
 * @module
 */

/** What the running system offers, as the tags are checked against. @internal */
export interface Runtime {
  napi: number;
  /** glibc's version (e.g. '2.36'), or null on a libc without one (musl). */
  glibc: string | null;
}

/** The addon to load, or why none of the candidates fits. @internal */
export type AddonChoice = { file: string } | { file?: undefined; reason: string };

/** The running Node and libc. @internal */
export function currentRuntime(): Runtime {
  // excludeNetwork (Node >= 20.13): the network part of a report is slow and not wanted here.
  const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
  const excluded = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return { napi: Number(process.versions.napi ?? 0), glibc: header?.glibcVersionRuntime ?? null };
  } finally {
    report.excludeNetwork = excluded;
  }
}

/** Why `tag` does not hold on `runtime`, or null when it does. */
function unmet(tag: string, runtime: Runtime): string | null {
  let m: RegExpExecArray | null;
  if ((m = /^napi-v(\d+)$/.exec(tag))) {
    return runtime.napi >= Number(m[1]) ? null : `needs Node-API ${m[1]}, this Node has ${runtime.napi}`;
  }
  if ((m = /^glibc-(\d+)\.(\d+)$/.exec(tag))) {
    if (runtime.glibc === null) return 'needs glibc, this system has another libc';
    const [major, minor] = runtime.glibc.split('.').map(Number) as [number, number];
    const ok = major > Number(m[1]) || (major === Number(m[1]) && minor >= Number(m[2]));
    return ok ? null : `needs glibc ${m[1]}.${m[2]}, this system has ${runtime.glibc}`;
  }
  if (tag === 'musl') return runtime.glibc === null ? null : 'needs musl, this system has glibc';
  return `unknown tag ${JSON.stringify(tag)}`;
}

/** Picks the addon among `files` (names in a prebuild directory) that fits `runtime`. @internal */
export function chooseAddon(files: readonly string[], runtime: Runtime): AddonChoice {
  const reasons: string[] = [];
  for (const file of [...files].sort()) {
    const m = /^pvm\.(.+)\.node$/.exec(file);
    if (!m) continue;
    const tags = m[1]!.match(/glibc-\d+\.\d+|[^.]+/g) ?? [];
    const problems = tags.map((tag) => unmet(tag, runtime)).filter((p) => p !== null);
    if (problems.length === 0) return { file };
    reasons.push(`${file} ${problems.join(', ')}`);
  }
  return { reason: reasons.length ? reasons.join('; ') : 'no addon in it' };
}
