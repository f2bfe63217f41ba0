"""The CDK v2 app: one construct per concern, composed by `StepwireStack`."""
