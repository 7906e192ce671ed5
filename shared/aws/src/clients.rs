//! AWS clients, built once per container from aws-config's standard chain.
//!
//! `AWS_ENDPOINT_URL` (or a per-service `AWS_ENDPOINT_URL_S3`, ...) points every client at an
//! emulator; when an endpoint is set, S3 uses path-style addressing (virtual-host style would try
//! to resolve `bucket.localhost`). Region and credentials come from the environment as usual.
//!
//! Test switches, never set in a deployment: [`crate::faults::FAULTS`] installs the fault
//! injector and [`crate::calls::CALL_LOG`] the call recorder on every client.

use aws_config::BehaviorVersion;

use aws_smithy_runtime_api::client::interceptors::Intercept;

use crate::calls::CallRecorder;
use crate::faults::FaultInjector;

/// Set by users to point all clients at an emulator (moto locally, LocalStack in Docker).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// Per-service override for S3, honoured by aws-config as well.
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";

/// The SDK clients a function may use. Cheap to clone (each client is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub glue: aws_sdk_glue::Client,
}

/// Loads the shared SDK configuration (region, credentials, endpoint) from the environment.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Builds the S3 client, forcing path-style addressing when an endpoint override is present.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let endpoint_set = std::env::var_os(AWS_ENDPOINT_URL).is_some()
        || std::env::var_os(AWS_ENDPOINT_URL_S3).is_some();
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(endpoint_set)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

impl Clients {
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            s3: s3_client(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            glue: aws_sdk_glue::Client::new(sdk),
        }
    }

    /// The same clients with `injector` installed on each (fault testing, see
    /// [`crate::faults`]).
    pub fn with_faults(&self, injector: &FaultInjector) -> Self {
        self.with_interceptor(injector)
    }

    /// The same clients with `interceptor` installed on each.
    pub fn with_interceptor<I>(&self, interceptor: &I) -> Self
    where
        I: Intercept + Clone + 'static,
    {
        Self {
            s3: aws_sdk_s3::Client::from_conf(
                self.s3
                    .config()
                    .to_builder()
                    .interceptor(interceptor.clone())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                self.dynamodb
                    .config()
                    .to_builder()
                    .interceptor(interceptor.clone())
                    .build(),
            ),
            glue: aws_sdk_glue::Client::from_conf(
                self.glue
                    .config()
                    .to_builder()
                    .interceptor(interceptor.clone())
                    .build(),
            ),
        }
    }

    /// Loads the SDK configuration and builds every client, with the fault injector when
    /// [`crate::faults::FAULTS`] is set and the call recorder when [`crate::calls::CALL_LOG`] is
    /// (never in a deployment); an invalid fault rule is an error.
    pub async fn from_env() -> Result<Self, ClientsError> {
        let sdk = load_sdk_config().await;
        let mut clients = Self::from_sdk_config(&sdk);
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        if let Some(recorder) = CallRecorder::from_env(&region) {
            tracing::warn!(path = %std::env::var(crate::calls::CALL_LOG).unwrap_or_default(), "call recording is on");
            clients = clients.with_interceptor(&recorder);
        }
        Ok(match FaultInjector::from_env().map_err(ClientsError)? {
            Some(injector) => {
                tracing::warn!(rules = %std::env::var(crate::faults::FAULTS).unwrap_or_default(), "fault injection is on");
                clients.with_faults(&injector)
            }
            None => clients,
        })
    }
}

/// The clients could not be built (an invalid fault switch).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientsError(String);
