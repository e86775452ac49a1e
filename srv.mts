import { MariaDbServer } from './test/support/mariadb';
import { writeFileSync } from 'node:fs';
const s = await MariaDbServer.start(); writeFileSync('/tmp/myurl', s.url);
process.on('SIGTERM', () => s.destroy().then(() => process.exit(0)));
setTimeout(() => s.destroy(), 3_000_000);
