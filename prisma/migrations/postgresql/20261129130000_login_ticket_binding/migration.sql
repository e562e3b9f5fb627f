-- A login ticket is redeemed only where it was meant to be (an interaction, an authorization request).
ALTER TABLE "LoginTicket" ADD COLUMN "boundTo" TEXT;
