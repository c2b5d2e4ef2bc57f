import React from 'react';
import ReactDOM from 'react-dom/client';

ReactDOM.createRoot(document.getElementById('root')).render(<h1>Hello {import.meta.env.VITE_TITLE ?? 'app'}</h1>);
