import { defineConfig } from 'vite';

// One self-contained ES module (Lit and the client bundled in), which herald serves at
// /assets/herald-inbox.js: an app loads it with one <script type="module">, from no CDN.
export default defineConfig({
  build: {
    lib: { entry: 'src/herald-inbox.ts', formats: ['es'], fileName: () => 'herald-inbox.js' },
    target: 'es2022',
    // Served as is to browsers: minify fully (library mode keeps whitespace by default), and
    // keep the bundled libraries' license comments.
    rolldownOptions: { output: { minify: true, comments: { legal: true } } },
    outDir: 'dist',
    emptyOutDir: true,
    reportCompressedSize: false,
  },
});
