/**
 * The one dib build the dib test files share (through sharedBuild: built
 * once per source state): the flavor's own elements plus a site element
 * written the way DIB's upstream elements are
 * (test/fixtures/dib-elements/ramforge-test-site), the test SSH key, a
 * serial console for logs, and an ISO.
 */
import { join } from 'node:path';
import { REPO_ROOT } from '../../builder/src/agent-bundle.js';
import { sharedBuild, testSshKey, type SharedBuild } from './shared-build.js';

export const DIB_SITE_ELEMENTS = join(REPO_ROOT, 'test', 'fixtures', 'dib-elements');

export const DIB_TEST_SPEC = {
  flavor: 'dib',
  name: 'ipa-dib',
  cmdline: 'console=ttyS0,115200',
  ssh: { authorizedKeys: [testSshKey().publicKey] },
  dib: {
    elements: ['ramforge-test-site'],
    elementsPath: [DIB_SITE_ELEMENTS],
    environment: { DIB_TEST_SITE_GREETING: 'hello from the spec' },
  },
};

export function dibSharedBuild(overrides: Record<string, unknown> = DIB_TEST_SPEC): Promise<SharedBuild> {
  return sharedBuild(overrides);
}
