/** Byzantine faults tolerated by n validators: f = floor((n - 1) / 3). */
export function faultTolerance(n: number): number {
  return Math.floor((n - 1) / 3);
}

/**
 * The smallest q with 2q - n > f: any two quorums share more than f validators, so at least
 * one honest one, which never votes for two blocks at the same height and view.
 * For n = 3f + 1 this is 2f + 1.
 */
export function quorumSize(n: number): number {
  return Math.floor((n + faultTolerance(n)) / 2) + 1;
}

/**
 * Primary rotation: the primary of (height, view) is validators[(height + view) mod n].
 * Rotating with the height lets every member propose in turn and bounds what one faulty
 * primary costs to one view change per n heights; rotating with the view moves on after a timeout.
 */
export function primaryIndex(height: number, view: number, n: number): number {
  return (height + view) % n;
}
