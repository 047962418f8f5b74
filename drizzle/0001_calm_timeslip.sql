CREATE TABLE "gate_sequences" (
	"product_id" text PRIMARY KEY NOT NULL,
	"last" bigint NOT NULL
);
