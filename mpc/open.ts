/**
 * Opening a secret from the shares the parties returned. With exactly t + 1 shares the secret is
 * interpolated; with more, the redundant shares are checked (Shamir consistency): a wrong share is
 * located and corrected when the redundancy allows, and recorded in `faults`; otherwise opening fails
 * with InconsistentSharesError naming the suspects, never with a wrong value.
 */
import { InconsistentSharesError } from './errors';
import { toSigned } from './field';
import { checkConsistency, interpolateAt, type SharePoint } from './shamir';

/** Faults located while opening the measures of one query. */
export interface OpenFaults {
  suspects: Set<number>;
  measures: string[];
}

export function newFaults(): OpenFaults {
  return { suspects: new Set(), measures: [] };
}

/** Opens the element `name` from `points` (degree t); records located faults in `faults`. */
export function openShares(name: string, points: readonly SharePoint[], t: number, faults: OpenFaults): bigint {
  if (points.length <= t + 1) return interpolateAt(points, 0);
  const report = checkConsistency([...points], t);
  if (report.consistent) return report.secret as bigint;
  if (report.located) {
    report.suspects.forEach((s) => faults.suspects.add(s));
    faults.measures.push(name);
    return report.secret as bigint;
  }
  throw new InconsistentSharesError(
    `the nodes' shares of ${name} do not lie on one polynomial of degree ${t}: a node returned a wrong share; suspect node(s) ${report.suspects.join(', ')}`,
    report.suspects,
    false,
  );
}

/** Opens and reads the element as a signed integer. */
export function openSigned(name: string, points: readonly SharePoint[], t: number, faults: OpenFaults): bigint {
  return toSigned(openShares(name, points, t, faults));
}
