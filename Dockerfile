# kto worker / dispatcher image: the compiled JavaScript in dist/ and production dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    KTO_STAGING_DIR=/var/lib/kto/staging
WORKDIR /app

# Dependencies first, so editing sources does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Only what the worker and dispatcher load. Files stay owned by root: the runtime user can
# read them but not change them.
COPY bin ./bin
COPY --from=build /src/dist ./dist
COPY templates ./templates

# The staging directory exists in the image so a named volume mounted there inherits
# the runtime user's ownership.
RUN mkdir -p /var/lib/kto/staging && chown -R node:node /var/lib/kto
USER node

ENTRYPOINT ["node", "bin/kto.js"]
CMD ["--help"]
