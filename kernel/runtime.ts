/**
 * The Node.js line the hub is built and tested on (package.json `engines`, the Dockerfile's
 * base image, CI). Imported first by every entry point, so that an older runtime stops the
 * start with one clear line instead of a failure deep inside a dependency.
 */
export const REQUIRED_NODE_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_NODE_MAJOR) {
  process.stderr.write(
    `arena-hub needs Node.js ${REQUIRED_NODE_MAJOR} or later; this is ${process.version}. ` +
      `\`npm ci\` installs Node.js ${REQUIRED_NODE_MAJOR} into node_modules and the npm scripts use it: run \`npm start\` (or \`npx node@${REQUIRED_NODE_MAJOR} dist/hub/main.js\`).\n`,
  );
  process.exit(1);
}
