# The aibrix-cache service image: `docker build -t aibrix-cache:0.1.0 .`
# Runs `aibrix-cache` (bin/aibrix-cache.js) as PID 1, so SIGTERM from the
# kubelet reaches the service itself and it stops gracefully.

ARG NODE_IMAGE=node:24-slim

# ---- build: the dev dependencies, and the TypeScript compiled to dist/ -------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the only one fetches a second Node for the npm scripts,
# and the image has Node 24 already.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY layers layers
RUN npm run build

# ---- runtime: production dependencies and dist/ only -------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# effect and @effect/platform-node are peer dependencies (an app embedding the
# cache brings its own); the service is such an app, so here they become
# dependencies, at the versions the lockfile holds. Their own peers are
# installed too: @effect/platform-node's entry module loads redis.
RUN node -e 'const fs = require("node:fs"); \
      const pkg = JSON.parse(fs.readFileSync("package.json", "utf8")); \
      pkg.dependencies = { ...pkg.dependencies, ...pkg.peerDependencies }; \
      delete pkg.peerDependencies; delete pkg.devDependencies; \
      fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2));' \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY bin bin
COPY --from=build /app/dist dist
# The image's own unprivileged user, by number so `runAsNonRoot` can check it.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "bin/aibrix-cache.js"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
