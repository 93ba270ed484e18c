// Compiles each AssemblyScript module in wasm/ into dist/wasm/<name>.wasm (part of `npm run build`):
// optimised, SIMD on, no runtime (the modules never allocate), no bounds assertions.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const asc = path.join(root, 'node_modules', '.bin', 'asc');
for (const source of readdirSync(path.join(root, 'wasm')).filter((f) => f.endsWith('.ts'))) {
  const out = path.join(root, 'dist', 'wasm', `${path.basename(source, '.ts')}.wasm`);
  execFileSync(asc, [path.join('wasm', source), '--outFile', out, '-O3', '--runtime', 'stub', '--noAssert', '--enable', 'simd'], { cwd: root, stdio: 'inherit' });
}
