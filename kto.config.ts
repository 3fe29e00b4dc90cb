import { defineConfig, defineIngest } from './src';

/**
 * kto's own sample project, declared as any project declares its own (`kto.pipelines.yaml`
 * beside it holds the config-only voltage-daily batch; both feed one registry).
 */
export default defineConfig({
  pipelines: [
    // The random-user Airflow DAG: poll an HTTP JSON source every second for 15 s and stream
    // each user, shaped like the DAG's format_data, into a topic keyed by its id. The source is
    // kto's built-in random-user source (a `defineSource` module); locally it is served by
    // `node --require tsx/cjs src/devstack/random-user-source.ts 8099` (see README, Ingest).
    defineIngest({
      name: 'random-users',
      topic: 'kto.demo.users',
      // The url form: kto's built-in random-user source, which every worker has (the image's too).
      url: 'http://127.0.0.1:8099/api/?results=5',
      intervalMs: 1000, // the DAG's loop had no pause; one poll a second is kinder to a public API
      windowMs: 15000, // `if time.time() > curr_time + 15: break`
      schedule: {
        cron: '* * * * *', // one 15 s window a minute
        enabled: false, // paused until you turn it on: the source must be running
      },
    }),
  ],
});
