import { defineConfig } from 'vite';

// One page and its hashed assets, served by herald's API role at /console/ (no CDN: Lit, uPlot
// and the typed client are bundled in).
export default defineConfig({
  base: '/console/',
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    reportCompressedSize: false,
    rolldownOptions: { output: { comments: { legal: true } } },
  },
});
