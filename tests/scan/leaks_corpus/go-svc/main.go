package main

import (
	"net/http"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

func issue(w http.ResponseWriter, r *http.Request) {
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "1"})
	signed, _ := token.SignedString([]byte("jL5wQ8nR2mT7vK4xZ9pB3sD6"))
	w.Write([]byte(signed))
}

func verifyKey() []byte {
	return []byte(os.Getenv("JWT_SECRET"))
}

func main() {
	http.HandleFunc("/token", issue)
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
