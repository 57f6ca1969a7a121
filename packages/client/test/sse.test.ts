import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/index.js';

describe('SseParser', () => {
  it('parses events split at any point, with CRLF, CR or LF line ends', () => {
    const stream =
      'retry: 3000\r\n: blocks\r\n\r\nevent: block\nid: 1\ndata: {"a":\ndata: 1}\n\n' +
      'event: audit\rid: 7\rdata: x\r\r: heartbeat\n\n';
    const all = new SseParser().push(stream);
    for (let cut = 0; cut <= stream.length; cut++) {
      const parser = new SseParser();
      const got = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))];
      expect(got).toEqual(all);
    }
    expect(all).toEqual([
      { event: 'block', id: '1', data: '{"a":\n1}' },
      { event: 'audit', id: '7', data: 'x' },
    ]);
  });

  it('gives back the events written, whatever the line ends and chunking', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ':', '{', '"', 'é', '1') });
    const event = fc.record({
      event: fc.stringMatching(/^[a-z]{1,8}$/),
      id: fc.stringMatching(/^[0-9]{1,6}$/),
      lines: fc.array(text, { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 5 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(), { maxLength: 6 }),
        (events, eol, cuts) => {
          // A data value starting with a space loses that one space (the field's separator).
          const wire = events
            .map(
              (e) =>
                `: comment${eol}event: ${e.event}${eol}id: ${e.id}${eol}${e.lines.map((l) => `data: ${l}${eol}`).join('')}${eol}`,
            )
            .join('');
          const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
          const parser = new SseParser();
          const got = [];
          let from = 0;
          for (const point of [...points, wire.length]) {
            got.push(...parser.push(wire.slice(from, point)));
            from = point;
          }
          expect(got).toEqual(
            events.map((e) => ({ event: e.event, id: e.id, data: e.lines.join('\n') })),
          );
        },
      ),
    );
  });
});
