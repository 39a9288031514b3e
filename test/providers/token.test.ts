import { expect, it } from 'vitest';
import { ProviderError } from '../../src/lib/errors.js';
import { makeProvider, useFakeProvider } from './fake-provider.js';

/** Token endpoints answer in OAuth's own shape; what they say still makes a short, one-line message. */

const { fake, dispatcher } = useFakeProvider();

it.each(['avaya-infinity', 'axp-digital'] as const)('%s: a refused token with a long error_description gives a short message', async (kind) => {
  fake.script([{ body: [] }], [{ status: 401, body: { error: 'invalid_client', error_description: `line one\r\n${'d'.repeat(10_000)}` } }]);
  const err = await makeProvider(kind, fake.url, dispatcher).list().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).code).toBe('PROVIDER_AUTH_FAILED');
  expect((err as ProviderError).message).toMatch(/^[^\r\n]{1,400}$/);
});
