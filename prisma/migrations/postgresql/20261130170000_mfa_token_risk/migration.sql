-- An mfa_token handed out for a risk CHALLENGE names its decision: the MFA API then takes only the
-- rule's methods, and the second factor marks the challenge met.
ALTER TABLE "MfaToken" ADD COLUMN "riskDecisionId" TEXT;
