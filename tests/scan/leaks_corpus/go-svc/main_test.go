package main

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestIssue(t *testing.T) {
	token := jwt.New(jwt.SigningMethodHS256)
	if _, err := token.SignedString([]byte("nT4kW9qX2vL7mR5zB8pD3sF6")); err != nil {
		t.Fatal(err)
	}
}
