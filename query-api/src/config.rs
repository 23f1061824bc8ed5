//! query-api's configuration: the sections of the shared configuration file it reads
//! (`sections.rs`) and their rules (`rules.rs`), checked once into a [`Validated`].

mod rules;
mod sections;
mod streams;

pub use self::rules::{Access, Validated};
pub use self::sections::{
    AccessLogConfig, AccessLogLevel, AuthConfig, CacheBackend, CacheConfig, Config, CorsConfig,
    LimitsConfig, MAX_URL_BYTES, RateLimitConfig, RedisConfig,
};
pub use self::streams::StreamsConfig;
