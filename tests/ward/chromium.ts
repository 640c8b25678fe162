import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, driven by playwright-core: what people see (ward board, vendor page, reports) is tested in a browser nobody here wrote. */
const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags a closed network floods chromium with refused connections.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: pages are tested in Debian's chromium; run \`bash tests/setup/ensure-packages.sh\` (as root) to install it`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
