// Calendar dates from Unix time (UTC, the proleptic Gregorian calendar), by the days-to-civil
// arithmetic of Howard Hinnant's date algorithms.

const MONTHS: string[] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A calendar date: year, month 1..12, day 1..31. */
class Civil { y: i64 = 0; m: i64 = 0; d: i64 = 0; }

/** The date of the day holding `secs` seconds since 1970-01-01 UTC. */
function civil(secs: i64): Civil {
  const days = (secs >= 0 ? secs : secs - 86399) / 86400;
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;                                      // [0, 146096]
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; // [0, 399]
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const mp = (5 * doy + 2) / 153;                                     // [0, 11], March first
  const c = new Civil();
  c.d = doy - (153 * mp + 2) / 5 + 1;
  c.m = mp < 10 ? mp + 3 : mp - 9;
  c.y = yoe + era * 400 + (c.m <= 2 ? 1 : 0);
  return c;
}

function two(v: i64): string { return (v < 10 ? "0" : "") + v.toString(); }

/** "06 Dec 2026" (strftime's "%d %b %Y") for `secs` seconds since 1970-01-01 UTC. */
export function formatDayMonthYear(secs: i64): string {
  const c = civil(secs);
  return two(c.d) + " " + MONTHS[<i32>c.m - 1] + " " + c.y.toString();
}

/** "2026-12-06 06:40:12 UTC" for `secs` seconds since 1970-01-01 UTC. */
export function formatDateTime(secs: i64): string {
  const c = civil(secs);
  const s = secs - ((secs >= 0 ? secs : secs - 86399) / 86400) * 86400; // [0, 86399]
  return c.y.toString() + "-" + two(c.m) + "-" + two(c.d) + " " + two(s / 3600) + ":" + two(s / 60 % 60) + ":" + two(s % 60) + " UTC";
}
