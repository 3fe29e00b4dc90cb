import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflows } from '../../src/worker';

test('a project workflow with the name of a kto workflow is refused before bundling, naming it and the fix', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kto-workflows-')), 'workflows.js');
  writeFileSync(file, 'exports.batch = async () => 1;\nexports.nightly = async () => 2;\n');
  await expect(bundleWorkflows(file)).rejects.toMatchObject({ name: 'UserError', message: expect.stringMatching(/^the project's workflows batch \(.*\) have the names of kto workflows/), fix: 'rename them' });
});
