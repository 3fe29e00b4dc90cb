# kto worker / dispatcher image. The CLI runs the TypeScript sources through tsx (a runtime
# dependency), so there is no build stage: the image holds production deps and the sources.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    KTO_STAGING_DIR=/var/lib/kto/staging
WORKDIR /app

# Dependencies first, so editing sources does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Only what the worker and dispatcher load (no tests, no benchmarks). Sources stay owned
# by root: the runtime user can read them but not change them.
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities

# The staging directory exists in the image so a named volume mounted there inherits
# the runtime user's ownership.
RUN mkdir -p /var/lib/kto/staging && chown -R node:node /var/lib/kto
USER node

ENTRYPOINT ["node", "bin/kto.js"]
CMD ["--help"]
