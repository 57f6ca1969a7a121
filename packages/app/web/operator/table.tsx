import type { ComponentChildren } from 'preact';

/**
 * A wide table that scrolls sideways on a narrow screen. The scrolling box takes focus so a
 * keyboard can scroll it (WCAG 2.1.1; axe's scrollable-region-focusable), and is a named region.
 */
export function ScrollTable({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
    <section class="table-wrap" tabIndex={0} aria-label={label}>
      {children}
    </section>
  );
}
