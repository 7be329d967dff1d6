/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dev server proxies the Django routes so the editor talks to the API same-origin
// (session cookie + CSRF work unchanged). API_PROXY_TARGET overrides the backend address,
// e.g. http://api:8000 inside docker compose.
const backend = process.env.API_PROXY_TARGET ?? 'http://127.0.0.1:8000';
const proxied = { target: backend, changeOrigin: false };

export default defineConfig({
  base: '/',
  plugins: [react()],
  // REACT_APP_API_URL is the spec's name for the API base; VITE_ is Vite's own prefix.
  envPrefix: ['VITE_', 'REACT_APP_'],
  server: {
    port: 5173,
    strictPort: true,
    proxy: { '/api': proxied, '/admin': proxied, '/static': proxied },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 900 },
  test: { environment: 'node', include: ['src/**/*.test.ts'] },
});
