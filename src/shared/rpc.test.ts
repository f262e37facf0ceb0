import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANSWERS_HOST_CHECKS, PANEL_HOST_CHECKS, REPORT_HOST_CHECKS, checkRestoredPanel, type PanelHostVocabulary, type ViewParameters } from './protocol';
import { ChannelError, Endpoint, type Checks, type Vocabulary, type WireMessage } from './rpc';
import { InvalidMessage } from './validate';

interface Server extends Vocabulary {
  requests: {
    double: { params: { n: number }; reply: { n: number }; progress: { step: number } };
    wait: { params: Record<string, never>; reply: string };
    fail: { params: Record<string, never>; reply: string };
  };
  notifications: { hello: { name: string } };
}
interface Client extends Vocabulary {
  requests: { whoAmI: { params: undefined; reply: string } };
  notifications: { log: { message: string } };
}

/** Two endpoints joined by structured-clone "wires", with the messages recorded. */
function pair(checks?: Checks<Server>) {
  const wire: WireMessage[] = [];
  const invalid: string[] = [];
  const late: string[] = [];
  // eslint-disable-next-line prefer-const
  let server: Endpoint<Server, Client>;
  const client = new Endpoint<Client, Server>({
    send: (m) => (wire.push(m), queueMicrotask(() => server.receive(structuredClone(m)))),
    onLateReply: (kind, _id, outcome) => late.push(`${kind} ${outcome}`),
  });
  server = new Endpoint<Server, Client>({ send: (m) => queueMicrotask(() => client.receive(structuredClone(m))), checks, onInvalid: (why) => invalid.push(why) });
  return { client, server, wire, invalid, late };
}

const view: ViewParameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 0.5, aux: 'clip', hint: '' };

describe('typed channel (rpc Endpoint)', () => {
  it('maps each request kind to its reply, with progress', async () => {
    const { client, server } = pair();
    server.onRequest('double', async ({ n }, { progress }) => {
      progress({ step: 1 });
      return { n: n * 2 };
    });
    const steps: number[] = [];
    const r = await client.request('double', { n: 21 }, { onProgress: (p) => steps.push(p.step) });
    assert.equal(r.n, 42);
    assert.deepEqual(steps, [1]);
  });

  it('works in both directions over one channel', async () => {
    const { client, server } = pair();
    client.onRequest('whoAmI', () => 'the host');
    server.onRequest('wait', async () => `asked back: ${await server.request('whoAmI', undefined)}`);
    assert.equal(await client.request('wait', {}), 'asked back: the host');
  });

  it('carries error codes from the closed set; unknown codes become internal', async () => {
    const { client, server } = pair();
    server.onRequest('fail', () => {
      throw Object.assign(new Error('gone'), { code: 'expired' });
    });
    await assert.rejects(client.request('fail', {}), (e: unknown) => e instanceof ChannelError && e.code === 'expired' && e.message === 'gone');
    server.onRequest('fail', () => {
      throw Object.assign(new Error('odd'), { code: 'not-a-code' });
    });
    await assert.rejects(client.request('fail', {}), { code: 'internal' });
  });

  it('a cancel reaches the handler, which replies cancelled (never success)', async () => {
    const { client, server, late } = pair();
    let sawAbort = false;
    server.onRequest('wait', (_p, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => ((sawAbort = true), resolve('finished anyway')))));
    const controller = new AbortController();
    const pending = client.request('wait', {}, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    await assert.rejects(pending, { code: 'cancelled' });
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(sawAbort);
    assert.deepEqual(late, ['wait cancelled'], 'even a handler that returns after the abort is reported as cancelled');
  });

  it('close fails what is in flight', async () => {
    const { client, server } = pair();
    server.onRequest('wait', () => new Promise(() => undefined));
    const pending = client.request('wait', {});
    client.close(new ChannelError('engine-crashed', 'gone'));
    await assert.rejects(pending, { code: 'engine-crashed' });
  });

  it('drops what fails its check, and answers unknown requests with no-handler', async () => {
    const checks: Checks<Server> = {
      requests: {
        double: (v, f) => {
          if (typeof (v as { n?: unknown })?.n !== 'number') throw new InvalidMessage(`${f}.n`, 'a number', (v as { n?: unknown })?.n);
          return v as { n: number };
        },
        wait: (v) => v as Record<string, never>,
        fail: (v) => v as Record<string, never>,
      },
      notifications: { hello: (v) => v as { name: string } },
    };
    const { client, server, invalid } = pair(checks);
    let calls = 0;
    server.onRequest('double', ({ n }) => ((calls++), { n: n * 2 }));
    await assert.rejects(client.request('double', { n: 'x' } as unknown as { n: number }), { code: 'bad-message' });
    assert.equal(calls, 0);
    assert.match(invalid[0], /double\.n: expected a number, got "x"/);
    await assert.rejects((client as unknown as Endpoint<Client, Vocabulary>).request('nope' as never, {} as never), { code: 'no-handler' });
    server.receive({ something: 'else' });
    assert.match(invalid.at(-1)!, /not a protocol message/);
  });
});

describe('webview message checks', () => {
  const notify = (kind: keyof PanelHostVocabulary['notifications'], payload: unknown) => PANEL_HOST_CHECKS.notifications[kind](payload, kind);

  it('accept well-formed messages', () => {
    assert.deepEqual(notify('ask', { question: 'what?' }), { question: 'what?' });
    assert.deepEqual(notify('viewChanged', { view }), { view });
    assert.equal(notify('ready', undefined), undefined);
    assert.deepEqual(ANSWERS_HOST_CHECKS.notifications.stop({ id: 'abc' }, 'stop'), { id: 'abc' });
  });

  it('refuse every wrong field with a message naming it (a non-string question does not throw later)', () => {
    assert.throws(() => notify('ask', { question: 42 }), /ask\.question: expected a string, got 42/);
    assert.throws(() => notify('ask', null), /ask: expected an object, got null/);
    assert.throws(() => notify('viewChanged', { view: { ...view, contrast: '5' } }), /view\.contrast: Contrast must be a number from 0 to 20, got "5"\./);
    assert.throws(() => notify('viewChanged', { view: { ...view, kernel: 4 } }), /view\.kernel: Kernel must be an odd integer from 1 to 9, got 4\./);
    assert.throws(() => notify('viewChanged', { view: { ...view, gray: 300 } }), /view\.gray/);
    assert.throws(() => notify('viewChanged', { view: { ...view, gray: 1.5 } }), /view\.gray: Gray must be an integer from 0 to 255, got 1\.5\./);
    assert.throws(() => notify('viewChanged', { view: { ...view, interpolation: 'sinc' } }), /view\.interpolation/);
    assert.throws(() => notify('viewChanged', { view: { ...view, layer: 2.5 } }), /view\.layer/);
    assert.throws(() => notify('viewChanged', { view: { ...view, opacity: Number.NaN } }), /view\.opacity/);
    assert.throws(() => notify('viewChanged', { view: { ...view, hint: ['x'] } }), /view\.hint: expected a string, got an array/);
    assert.throws(() => notify('viewChanged', { view: { ...view, extra: 1 } }), /view\.extra: expected no such field/);
    assert.throws(() => notify('copyFailed', { message: 'x'.repeat(5000) }), /at most 4000 characters/);
    assert.throws(() => notify('save', { type: 'x' }), /expected no payload/);
    assert.throws(() => ANSWERS_HOST_CHECKS.notifications.reask({ id: {} }, 'reask'), /reask\.id: expected a string/);
  });

  it('from the batch report: a row to open (id, and a sweep setting) and Re-run failed, nothing else', () => {
    const open = (payload: unknown) => REPORT_HOST_CHECKS.notifications.openItem(payload, 'openItem');
    assert.deepEqual(open({ id: 'img03' }), { id: 'img03' });
    assert.deepEqual(open({ id: 'img03', setting: 'layer=20 contrast=3' }), { id: 'img03', setting: 'layer=20 contrast=3' });
    assert.equal(REPORT_HOST_CHECKS.notifications.rerunFailed(undefined, 'rerunFailed'), undefined);
    assert.throws(() => open({ id: 3 }), /openItem\.id: expected a string, got 3/);
    assert.throws(() => open({ id: '  ' }), /openItem\.id: expected a non-empty string/);
    assert.throws(() => open({ id: 'x'.repeat(5000) }), /openItem\.id: expected at most 4000 characters/);
    assert.throws(() => open({ id: 'a', setting: 20 }), /openItem\.setting: expected a string, got 20/);
    assert.throws(() => open({ id: 'a', image: '/etc/passwd' }), /openItem\.image: expected no such field/);
    assert.throws(() => open(['a']), /openItem: expected an object, got an array/);
    assert.throws(() => REPORT_HOST_CHECKS.notifications.rerunFailed({ all: true }, 'rerunFailed'), /expected no payload/);
  });

  it('check a restored panel state like a message', () => {
    assert.deepEqual(checkRestoredPanel({ imagePath: '/a.png', question: 'q', view, extra: 'ignored' }, 'state'), { imagePath: '/a.png', question: 'q', view });
    assert.throws(() => checkRestoredPanel(undefined, 'state'), /state\.imagePath: expected a string/);
    assert.throws(() => checkRestoredPanel({ imagePath: '/a.png', question: 'q', view: { ...view, kernel: 2 } }, 'state'), /state\.view\.kernel/);
  });
});
