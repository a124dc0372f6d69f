// Quiet structured logs during tests unless a developer asks for them.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'CreditRisk';
process.env.POWERTOOLS_SERVICE_NAME ??= 'credit-risk-test';
process.env.AWS_REGION ??= 'eu-west-1';
