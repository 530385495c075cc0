// Runs the CLI straight from the TypeScript sources (Node 22.18+/24 strip types), for tests and
// development: `node src/cli/run.ts worker`. The installed command (bin/herald.js) runs dist/.
import { main } from './main.ts';

await main(process.argv.slice(2));
