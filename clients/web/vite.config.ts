import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// `npm run build:web`: clients/web -> clients/web/dist, served by the server at `/`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
});
